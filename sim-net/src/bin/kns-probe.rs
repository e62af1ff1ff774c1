//! `kns-probe`: servers and clients for the kernel differential tests, run inside emulated
//! network namespaces (see `sim_net::emulate::helper`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(sim_net::emulate::helper::main(&args));
}
