//! Running a [`Plan`] in real network namespaces, and the guard that removes them.
//!
//! [`Env::detect`] finds the tools (iproute2, sysctl, `iptables-{nft,legacy}-restore`, ipset,
//! conntrack, ping, dumpcap) and checks that a namespace can be created — as root, or as root
//! of a user namespace (`unshare -rnm`, see `scripts/kernel-difftest.sh`) — and that
//! br_netfilter's sysctls exist. It answers a reason to skip when they cannot.
//!
//! An [`Emulation`] names its namespaces `kns-<pid>-<n>-NAME` (`n` counts emulations in the
//! process, so parallel tests never collide), keeps its scratch files in `/tmp/kns-<pid>-<n>`,
//! and owns the processes it starts there. Teardown — kill those processes, `ip netns del`
//! every namespace it created, remove the scratch directory — runs:
//! - when the [`Emulation`] is dropped, including while a panic unwinds;
//! - on SIGINT or SIGTERM: a handler (plain `signal(2)` through the C library std already
//!   links, no extra crate) raises a flag that a watcher thread turns into the teardown of every
//!   live emulation of the process, then exits with 128 + the signal;
//! - for whatever a SIGKILLed run left behind: the first emulation of a process removes every
//!   `kns-<pid>-…` namespace (and the processes inside it) whose `<pid>` is no longer running.
//!
//! Only namespaces this code created are ever touched: every command names one by its prefixed
//! name. Commands run with a deadline (a hung tool is killed and reported, never waited on
//! forever). Rootless `iptables-legacy-restore` needs a writable `XTABLES_LOCKFILE`; when it is
//! unset, the emulation points it at its scratch directory.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command as Process, Output, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, Once, mpsc};
use std::time::Duration;

use crate::emulate::plan::{Arg, Command, Plan, PlanError, Program};

/// Deadline for one setup command (`ip`, `sysctl`, `iptables-restore`...).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong while emulating.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulateError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("could not start `{cmd}`: {error}")]
    Spawn { cmd: String, error: String },
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Failed {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("`{cmd}` did not finish within {after_ms} ms and was killed")]
    Timeout { cmd: String, after_ms: u64 },
    #[error("{0}")]
    Io(String),
    #[error("probe: {0}")]
    Probe(String),
}

/// Which iptables the kernel's rules are loaded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IptablesBackend {
    /// `iptables-nft-restore` (nf_tables with the xtables compatibility layer).
    Nft,
    /// `iptables-legacy-restore -w` (the ip_tables kernel module).
    Legacy,
}

impl IptablesBackend {
    fn argv(self) -> [&'static str; 2] {
        match self {
            IptablesBackend::Nft => ["iptables-nft-restore", "-w"],
            IptablesBackend::Legacy => ["iptables-legacy-restore", "-w"],
        }
    }
}

/// The tools the emulation and its probes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    Ip,
    Bridge,
    Sysctl,
    IptablesRestore,
    Ipset,
    Conntrack,
    Ping,
    Dumpcap,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ip => "ip",
            Tool::Bridge => "bridge",
            Tool::Sysctl => "sysctl",
            Tool::IptablesRestore => "iptables-restore",
            Tool::Ipset => "ipset",
            Tool::Conntrack => "conntrack",
            Tool::Ping => "ping",
            Tool::Dumpcap => "dumpcap",
        }
    }

    const ALL: [Tool; 8] = [
        Tool::Ip,
        Tool::Bridge,
        Tool::Sysctl,
        Tool::IptablesRestore,
        Tool::Ipset,
        Tool::Conntrack,
        Tool::Ping,
        Tool::Dumpcap,
    ];
}

/// What this machine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub iptables: IptablesBackend,
    /// Running as root of a user namespace rather than of the machine.
    pub rootless: bool,
    found: BTreeMap<Tool, PathBuf>,
}

/// Finds `name` on `PATH` (and in the sbin directories, which a non-login root may lack).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

impl Env {
    /// Looks at the machine; `Err` says why differential tests cannot run here.
    pub fn detect() -> Result<Env, String> {
        if !cfg!(target_os = "linux") {
            return Err("network namespaces need Linux".into());
        }
        let mut found = BTreeMap::new();
        let backend = match std::env::var("KNS_IPTABLES").as_deref() {
            Ok("legacy") => IptablesBackend::Legacy,
            Ok("nft") => IptablesBackend::Nft,
            _ if which("iptables-nft-restore").is_some() => IptablesBackend::Nft,
            _ => IptablesBackend::Legacy,
        };
        for t in Tool::ALL {
            let bin = match t {
                Tool::IptablesRestore => backend.argv()[0],
                other => other.name(),
            };
            if let Some(p) = which(bin) {
                found.insert(t, p);
            }
        }
        for t in [Tool::Ip, Tool::Sysctl] {
            if !found.contains_key(&t) {
                return Err(format!("`{}` is not installed", t.name()));
            }
        }
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
            })
            .unwrap_or_default();
        if uid != "0" {
            return Err("not root (run as root, or inside `unshare -rnm`)".into());
        }
        let rootless = std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
            .unwrap_or(false);
        let env = Env {
            iptables: backend,
            rootless,
            found,
        };
        // Can we make a namespace, and does it have br_netfilter's switches?
        let name = format!("kns-{}-check", std::process::id());
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let made = run_argv(
            &argv(&["ip", "netns", "add", &name]),
            None,
            &[],
            COMMAND_TIMEOUT,
        );
        if let Err(e) = made {
            return Err(format!("cannot create a network namespace: {e}"));
        }
        let brnf = run_argv(
            &argv(&[
                "ip",
                "netns",
                "exec",
                &name,
                "sysctl",
                "-n",
                "net.bridge.bridge-nf-call-iptables",
            ]),
            None,
            &[],
            COMMAND_TIMEOUT,
        );
        let _ = run_argv(
            &argv(&["ip", "netns", "del", &name]),
            None,
            &[],
            COMMAND_TIMEOUT,
        );
        if brnf.is_err() {
            return Err(
                "br_netfilter is not loaded (net.bridge.bridge-nf-call-iptables is missing; \
                 `modprobe br_netfilter` as root)"
                    .into(),
            );
        }
        Ok(env)
    }

    pub fn has(&self, t: Tool) -> bool {
        self.found.contains_key(&t)
    }

    /// The names of the tools in `need` that are missing.
    pub fn missing(&self, need: &[Tool]) -> Vec<&'static str> {
        need.iter()
            .filter(|t| !self.has(**t))
            .map(|t| match t {
                Tool::IptablesRestore => self.iptables.argv()[0],
                other => other.name(),
            })
            .collect()
    }
}

/// Runs `argv` with `stdin`, extra environment and a deadline; `Ok` only on exit status 0.
pub fn run_argv(
    argv: &[String],
    stdin: Option<&str>,
    envs: &[(String, String)],
    timeout: Duration,
) -> Result<Output, EmulateError> {
    let out = run_unchecked(argv, stdin, envs, timeout)?;
    if !out.status.success() {
        return Err(EmulateError::Failed {
            cmd: argv.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Runs `argv` and returns its output whatever its exit status, or an error if it could not
/// start or outlived `timeout` (then it is killed).
pub fn run_unchecked(
    argv: &[String],
    stdin: Option<&str>,
    envs: &[(String, String)],
    timeout: Duration,
) -> Result<Output, EmulateError> {
    let cmd = argv.join(" ");
    let mut p = Process::new(&argv[0]);
    p.args(&argv[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        p.env(k, v);
    }
    let mut child = p.spawn().map_err(|e| EmulateError::Spawn {
        cmd: cmd.clone(),
        error: e.to_string(),
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let got = match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            kill_pid(pid, "KILL");
            let _ = rx.recv();
            return Err(EmulateError::Timeout {
                cmd,
                after_ms: timeout.as_millis() as u64,
            });
        }
    };
    got.map_err(|e| EmulateError::Io(format!("{cmd}: {e}")))
}

/// `kill -SIG PID` for a process this module started.
fn kill_pid(pid: u32, sig: &str) {
    let _ = Process::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// What the signal path must remove for one emulation: its namespaces and process ids.
type Live = (Vec<String>, Vec<u32>);
/// Live emulations of this process, by prefix, for the signal path.
static LIVE: Mutex<BTreeMap<String, Live>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU32 = AtomicU32::new(0);
static CAUGHT: AtomicI32 = AtomicI32::new(0);
static SETUP: Once = Once::new();

mod sys {
    unsafe extern "C" {
        /// `signal(2)` from the C library.
        pub fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }
}

extern "C" fn on_signal(sig: i32) {
    // Only an atomic store: all a signal handler may safely do.
    CAUGHT.store(sig, Ordering::SeqCst);
}

/// Once per process: remove what dead runs left, and install the SIGINT/SIGTERM teardown.
fn setup_process() {
    SETUP.call_once(|| {
        sweep_stale();
        const SIGINT: i32 = 2;
        const SIGTERM: i32 = 15;
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe.
        unsafe {
            sys::signal(SIGINT, on_signal);
            sys::signal(SIGTERM, on_signal);
        }
        let _ = std::thread::Builder::new()
            .name("kns-signals".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    let sig = CAUGHT.load(Ordering::SeqCst);
                    if sig != 0 {
                        eprintln!("kns: signal {sig}: removing the emulated namespaces");
                        let live =
                            std::mem::take(&mut *LIVE.lock().unwrap_or_else(|p| p.into_inner()));
                        for (prefix, (netns, pids)) in live {
                            for pid in pids {
                                kill_pid(pid, "KILL");
                            }
                            for ns in netns.iter().rev() {
                                let _ = del_netns(ns);
                            }
                            let dir = std::env::temp_dir().join(prefix.trim_end_matches('-'));
                            let _ = std::fs::remove_dir_all(dir);
                        }
                        std::process::exit(128 + sig);
                    }
                }
            });
    });
}

fn del_netns(real: &str) -> Result<Output, EmulateError> {
    let argv: Vec<String> = ["ip", "netns", "del", real].map(String::from).to_vec();
    run_argv(&argv, None, &[], COMMAND_TIMEOUT)
}

/// Removes `kns-<pid>-…` namespaces (killing the processes in them first) and
/// `/tmp/kns-<pid>-…` directories of processes that no longer run.
pub fn sweep_stale() {
    let me = std::process::id();
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix("kns-") else {
            return false;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            return false;
        };
        pid != me && !Path::new(&format!("/proc/{pid}")).exists()
    };
    if let Ok(dir) = std::fs::read_dir("/run/netns") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !dead(&name) {
                continue;
            }
            let argv: Vec<String> = ["ip", "netns", "pids", &name].map(String::from).to_vec();
            if let Ok(out) = run_unchecked(&argv, None, &[], COMMAND_TIMEOUT) {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<u32>() {
                        kill_pid(pid, "KILL");
                    }
                }
            }
            let _ = del_netns(&name);
        }
    }
    if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A process started inside an emulated namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildId(usize);

/// Emulated namespaces and the processes in them; removed on drop.
pub struct Emulation {
    env: Env,
    prefix: String,
    created: Vec<String>,
    children: Vec<Option<Child>>,
    workdir: PathBuf,
    /// Every command run so far, as text (for failure reports).
    pub log: Vec<String>,
}

impl Emulation {
    /// A new, empty emulation with a unique prefix and scratch directory.
    pub fn new(env: &Env) -> Result<Emulation, EmulateError> {
        setup_process();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("kns-{}-{n}-", std::process::id());
        let workdir = std::env::temp_dir().join(prefix.trim_end_matches('-'));
        std::fs::create_dir_all(&workdir)
            .map_err(|e| EmulateError::Io(format!("{}: {e}", workdir.display())))?;
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix.clone(), (Vec::new(), Vec::new()));
        Ok(Emulation {
            env: env.clone(),
            prefix,
            created: Vec::new(),
            children: Vec::new(),
            workdir,
            log: Vec::new(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The scratch directory (removed at teardown).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The real name of the simulator's namespace `name`.
    pub fn netns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn register(&self) {
        let pids = self.children.iter().flatten().map(Child::id).collect();
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.prefix.clone(), (self.created.clone(), pids));
    }

    /// Runs every command of `plan`, in order; stops at the first failure.
    pub fn apply(&mut self, plan: &Plan) -> Result<(), EmulateError> {
        for c in &plan.commands {
            self.run(c)?;
        }
        Ok(())
    }

    /// The argv and environment of a plan command, namespaces named.
    fn argv(&self, c: &Command) -> (Vec<String>, Vec<(String, String)>) {
        let mut argv: Vec<String> = Vec::new();
        let mut envs = Vec::new();
        if let Some(ns) = &c.exec_in {
            argv.extend(["ip", "netns", "exec"].map(String::from));
            argv.push(self.netns(ns));
        }
        match c.program {
            Program::Ip => argv.push("ip".into()),
            Program::Bridge => argv.push("bridge".into()),
            Program::Sysctl => argv.push("sysctl".into()),
            Program::Ipset => argv.push("ipset".into()),
            Program::IptablesRestore => {
                argv.extend(self.env.iptables.argv().map(String::from));
                if self.env.iptables == IptablesBackend::Legacy
                    && self.env.rootless
                    && std::env::var_os("XTABLES_LOCKFILE").is_none()
                {
                    let lock = self.workdir.join("xtables.lock");
                    envs.push((
                        "XTABLES_LOCKFILE".to_string(),
                        lock.to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        for a in &c.args {
            argv.push(match a {
                Arg::Lit(s) => s.clone(),
                Arg::Netns(n) => self.netns(n),
            });
        }
        (argv, envs)
    }

    /// Runs one plan command; its standard output on success.
    pub fn run(&mut self, c: &Command) -> Result<String, EmulateError> {
        let (argv, envs) = self.argv(c);
        self.log.push(argv.join(" "));
        // Record a namespace before creating it, so a half-made one is still removed.
        let adds = matches!(c.args.as_slice(), [Arg::Lit(a), Arg::Lit(b), Arg::Netns(_)] if a == "netns" && b == "add");
        if adds {
            self.created.push(argv[3].clone());
            self.register();
        }
        let out = run_argv(&argv, c.stdin.as_deref(), &envs, COMMAND_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `argv` inside the simulator's namespace `ns`; its output whatever the status.
    pub fn exec(
        &self,
        ns: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<Output, EmulateError> {
        let mut full: Vec<String> = ["ip", "netns", "exec"].map(String::from).to_vec();
        full.push(self.netns(ns));
        full.extend(argv.iter().cloned());
        run_unchecked(&full, None, &[], timeout)
    }

    /// Starts `argv` in the background inside `ns`, its standard output piped to the caller and
    /// its standard error to `stderr_file` in the scratch directory.
    pub fn spawn(
        &mut self,
        ns: &str,
        argv: &[String],
        stderr_file: &str,
    ) -> Result<(ChildId, ChildStdout), EmulateError> {
        let real = self.netns(ns);
        let cmd = format!("ip netns exec {real} {}", argv.join(" "));
        self.log.push(format!("{cmd} &"));
        let err = std::fs::File::create(self.workdir.join(stderr_file))
            .map_err(|e| EmulateError::Io(e.to_string()))?;
        let mut child = Process::new("ip")
            .args(["netns", "exec", &real])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| EmulateError::Spawn {
                cmd: cmd.clone(),
                error: e.to_string(),
            })?;
        let out = child.stdout.take().expect("stdout is piped");
        self.children.push(Some(child));
        self.register();
        Ok((ChildId(self.children.len() - 1), out))
    }

    /// Asks a background process to finish (SIGTERM) and waits up to `grace` for it, then
    /// kills it.
    pub fn stop(&mut self, id: ChildId, grace: Duration) {
        let Some(mut child) = self.children.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        kill_pid(child.id(), "TERM");
        let deadline = std::time::Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        self.register();
    }

    /// Reads a file of the scratch directory (empty if it is not there).
    pub fn read_file(&self, name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        if let Ok(mut f) = std::fs::File::open(self.workdir.join(name)) {
            let _ = f.read_to_end(&mut v);
        }
        v
    }

    /// Kills the processes, deletes the namespaces, removes the scratch directory. Runs once;
    /// [`Drop`] calls it.
    pub fn teardown(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in std::mem::take(&mut self.created).iter().rev() {
            let _ = del_netns(ns);
        }
        let _ = std::fs::remove_dir_all(&self.workdir);
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.prefix);
    }
}

impl Drop for Emulation {
    fn drop(&mut self) {
        self.teardown();
    }
}
