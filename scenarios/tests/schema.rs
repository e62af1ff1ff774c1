//! The shipped `scenarios/schema.json` is the schema generated from the loader's types, and
//! every example scenario is valid against it.

use std::path::Path;

use scenarios::scenario::file::schema;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_schema_is_the_generated_one() {
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schema.json")).unwrap())
            .unwrap();
    assert_eq!(
        shipped,
        schema(),
        "scenarios/schema.json is stale: run `kube-netsim schema > scenarios/schema.json`"
    );
}

/// A validator for the part of JSON Schema the generated schema uses: `$ref` into `$defs`,
/// `type` (one or several), `properties`/`required`/`additionalProperties: false`, `items`,
/// `anyOf`/`oneOf`, `enum`, `const`, `minimum`, and `pattern` (checked as "non-empty" only:
/// no regex engine here). Returns the first violation with its JSON path.
fn validate(schema: &Value, defs: &Value, v: &Value, path: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return validate(&defs[name], defs, v, path);
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = names.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !ok {
            return Err(format!("{path}: {v} is not of type {names:?}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{path}: {v} is not one of {e:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        return Err(format!("{path}: {v} is not {c}"));
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        return Err(format!("{path}: {n} is below {min}"));
    }
    if schema.get("pattern").is_some() && v.as_str() == Some("") {
        return Err(format!("{path}: empty string"));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let passing = alts
                .iter()
                .filter(|a| validate(a, defs, v, path).is_ok())
                .count();
            let ok = if key == "anyOf" {
                passing > 0
            } else {
                passing == 1
            };
            if !ok {
                return Err(format!(
                    "{path}: {v} matches {passing} of the {key} choices"
                ));
            }
        }
    }
    if let Some(o) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !o.contains_key(req) {
                return Err(format!("{path}: missing {req}"));
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, defs, x, &format!("{path}.{k}"))?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{path}: unknown field {k}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(items, defs, x, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn every_example_is_valid_against_the_schema_and_a_typo_is_not() {
    let s = schema();
    let defs = &s["$defs"];
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        validate(&s, defs, &v, "$").unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        // The same file with a misspelt step key is refused by the schema too.
        let mut bad = v.clone();
        bad["steps"][0]["sned"] = Value::Bool(true);
        assert!(validate(&s, defs, &bad, "$").is_err(), "{}", f.display());
    }
    let wrong: Value = serde_json::json!({"name": "x", "seed": "seven"});
    assert!(
        validate(&s, defs, &wrong, "$")
            .unwrap_err()
            .contains("$.seed")
    );
}
