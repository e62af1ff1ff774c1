//! The scenario loader never panics: random text, and random mutations of real example
//! files, are either loaded or refused with a located error.

use std::path::Path;

use proptest::prelude::*;
use scenarios::scenario::load_text;

fn quickstart() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.yaml"))
        .unwrap()
}

/// Pieces of scenario syntax, to make random documents that get past the YAML parser.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name: x\n".to_string()),
        Just("steps:\n".to_string()),
        Just("  - ".to_string()),
        Just("send: {from: default/a, to: \"10.0.0.1:80\", httpGet: /}\n".to_string()),
        Just("expect: {reachable: true}\n".to_string()),
        Just("at: 1s\n".to_string()),
        Just("after: -1s\n".to_string()),
        Just("wait: 99999999999999999999h\n".to_string()),
        Just("cluster: {nodes: 0}\n".to_string()),
        Just("cluster: {nodes: [a, a]}\n".to_string()),
        Just("manifests:\n  - {kind: Pod}\n".to_string()),
        Just("exports: [html, nope]\n".to_string()),
        Just("    ".to_string()),
        Just("{".to_string()),
        Just("]".to_string()),
        Just(": ".to_string()),
        Just("&a *a ".to_string()),
        "[ -~]{0,12}".prop_map(|s| s),
        Just("\n".to_string()),
    ]
}

fn check(text: &str) {
    match load_text("fuzz.yaml", text, Path::new(".")) {
        Ok(_) => {}
        Err(e) => assert!(
            e.location.starts_with("fuzz.yaml"),
            "an error names the file: {e}"
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn random_scenario_shaped_documents_never_panic(tokens in prop::collection::vec(token(), 0..24)) {
        check(&tokens.concat());
    }

    #[test]
    fn mutated_examples_never_panic(at in 0usize..4000, cut in 0usize..40, insert in "[ -~\\n]{0,8}") {
        let text = quickstart();
        let at = text.char_indices().map(|(i, _)| i).nth(at % text.chars().count()).unwrap_or(0);
        let end = text[at..].char_indices().map(|(i, _)| at + i).nth(cut).unwrap_or(text.len());
        let mutated = format!("{}{insert}{}", &text[..at], &text[end..]);
        check(&mutated);
    }
}
