//! A case's boot as a LAVA job definition: deploy the kernel and the
//! initramfs to tmpfs, boot them with the harness's kernel command line,
//! and a `monitors` test that starts at the guest's `@@LTOH BEGIN`, ends
//! at `@@LTOH END` and turns each `@@LTOH RESULT <step> rc=<n>` into a
//! LAVA test case. Device type `qemu` for both arches (its `context:` is
//! what a lab renders the device with); [`device_yaml`] is the rendered
//! device dictionary `lava-run` takes for the same QEMU line.

use crate::arch::ArchProfile;
use crate::case::Case;
use crate::guest::protocol::MARKER;
use serde_json::json;
use std::time::Duration;

/// Where the job finds an artefact: a URL under `--artifact-base-url`
/// (a lab downloads it) or a local path (`lava-run` on this machine).
pub fn artifact_url(base: Option<&str>, case: &str, file: &str, local: &std::path::Path) -> String {
    match base {
        Some(b) => format!("{}/{case}/{file}", b.trim_end_matches('/')),
        None => format!("file://{}", local.display()),
    }
}

/// What the job boots.
pub struct JobSpec<'a> {
    pub case: &'a Case,
    pub kernel_url: String,
    pub initrd_url: String,
    /// The kernel command line, as a local boot has it.
    pub cmdline: String,
    /// The case's boot timeout.
    pub timeout: Duration,
}

/// The job definition (YAML) of one case.
pub fn job_yaml(spec: &JobSpec) -> anyhow::Result<String> {
    let arch = spec.case.arch.profile();
    let q = &arch.qemu;
    let minutes = (spec.timeout.as_secs().div_ceil(60)).max(1);
    let mut extra = vec!["-smp 1".to_owned(), "-no-reboot".to_owned()];
    if let Some(cpu) = q.cpu {
        extra.push(format!("-cpu {cpu}"));
    }
    let job = json!({
        "device_type": "qemu",
        "job_name": format!("lto-harness {}", spec.case.name),
        "timeouts": {
            "job": {"minutes": minutes + 5},
            "action": {"minutes": minutes},
            "connection": {"minutes": 2},
        },
        "priority": "medium",
        "visibility": "public",
        "metadata": {
            "lto-harness.case": spec.case.name,
            "lto-harness.arch": arch.name,
            "lto-harness.lto": spec.case.lto.name(),
            "lto-harness.cfi": spec.case.cfi.name(),
        },
        "context": {
            "arch": arch.lava_arch,
            "machine": q.machine,
            "memory": q.memory_mib,
            "no_kvm": true,
            "extra_options": extra,
        },
        "actions": [
            {"deploy": {
                "to": "tmpfs",
                "timeout": {"minutes": 5},
                "images": {
                    "kernel": {
                        "image_arg": format!("-kernel {{kernel}} -append \"{}\"", spec.cmdline),
                        "url": spec.kernel_url,
                    },
                    "ramdisk": {
                        "image_arg": "-initrd {ramdisk}",
                        "url": spec.initrd_url,
                    },
                },
            }},
            {"boot": {
                "method": "qemu",
                "media": "tmpfs",
                "timeout": {"minutes": minutes},
            }},
            {"test": {
                "timeout": {"minutes": minutes},
                "monitors": [{
                    "name": "lto-harness",
                    "start": format!("{MARKER} BEGIN"),
                    "end": format!("{MARKER} END"),
                    // Each step's exit code as a LAVA result (its first
                    // digit: 0 passes, any other fails), not a verdict: a CFI
                    // probe's shell dies by design; the harness judges the
                    // console.
                    "pattern": format!("{MARKER} RESULT (?P<test_case_id>\\S+) rc=(?P<result>0|[1-9])\\d*"),
                    "fixupdict": {
                        "0": "pass", "1": "fail", "2": "fail", "3": "fail", "4": "fail",
                        "5": "fail", "6": "fail", "7": "fail", "8": "fail", "9": "fail",
                    },
                }],
            }},
        ],
    });
    let mut s = String::from(
        "# Written by lto-harness: the case's boot as a LAVA job. Submit it with\n\
         # `lavacli jobs submit <this file>`, or run it here with `lto-harness run\n\
         # --boot lava-run`; judge its log with `lto-harness run --lava-log`.\n",
    );
    s.push_str(&serde_saphyr::to_string(&job)?);
    Ok(s)
}

/// The `qemu` device dictionary `lava-run` reads for `arch`: lava-server's
/// rendering (qemu-device.yaml) with the harness's QEMU line, started as
/// `command` (the emulator, or a wrapper: [`qemu_wrapper`]).
pub fn device_yaml(arch: &ArchProfile, command: &str) -> String {
    let q = &arch.qemu;
    let mut options: Vec<String> = vec![format!("-M {}", q.machine)];
    if let Some(cpu) = q.cpu {
        options.push(format!("-cpu {cpu}"));
    }
    options.extend([
        "-accel tcg".to_owned(),
        format!("-m {}", q.memory_mib),
        "-smp 1".to_owned(),
        "-nodefaults".to_owned(),
        "-display none".to_owned(),
        "-serial stdio".to_owned(),
        "-no-reboot".to_owned(),
    ]);
    let options: Vec<String> = options.iter().map(|o| format!("          - {o}")).collect();
    include_str!("qemu-device.yaml")
        .replace("@QEMU_COMMAND@", command)
        .replace("@QEMU_OPTIONS@", &options.join("\n"))
}

/// A script that starts the arch's QEMU so that it dies with its parent,
/// `lava-run` (pexpect gives it a terminal and process group of its own,
/// out of reach of the group the harness kills): `setpriv --pdeathsig KILL`.
pub fn qemu_wrapper(arch: &ArchProfile) -> String {
    format!(
        "#!/bin/sh\n# QEMU for lava-run, killed with lava-run (written by lto-harness)\n\
         exec setpriv --pdeathsig KILL {} \"$@\"\n",
        arch.qemu.binary
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn case(name: &str) -> Case {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../cases"));
        crate::case::load_dir(dir)
            .unwrap()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
    }

    /// The job parses as YAML LAVA reads, with the markers and the
    /// artefacts where they were asked.
    #[test]
    fn a_job_boots_the_case_and_monitors_its_markers() {
        let c = case("arm64-lto-thin-cfi");
        let spec = JobSpec {
            case: &c,
            kernel_url: artifact_url(
                Some("https://ci.example/r/"),
                &c.name,
                "Image",
                Path::new("/x"),
            ),
            initrd_url: artifact_url(
                None,
                &c.name,
                "initramfs.cpio.gz",
                Path::new("/r/i.cpio.gz"),
            ),
            cmdline: "console=ttyAMA0 panic=-1 initcall_debug".into(),
            timeout: Duration::from_secs(300),
        };
        let y = job_yaml(&spec).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(v["device_type"], "qemu");
        assert_eq!(v["context"]["arch"], "arm64");
        let deploy = &v["actions"][0]["deploy"]["images"];
        assert_eq!(
            deploy["kernel"]["url"],
            "https://ci.example/r/arm64-lto-thin-cfi/Image"
        );
        assert_eq!(deploy["ramdisk"]["url"], "file:///r/i.cpio.gz");
        assert!(deploy["kernel"]["image_arg"]
            .as_str()
            .unwrap()
            .contains("-append \"console=ttyAMA0 panic=-1 initcall_debug\""));
        let m = &v["actions"][2]["test"]["monitors"][0];
        assert_eq!(m["start"], "@@LTOH BEGIN");
        assert_eq!(m["end"], "@@LTOH END");
        assert_eq!(v["timeouts"]["action"]["minutes"], 5);
    }

    #[test]
    fn the_device_boots_the_arch_as_the_harness_does() {
        for c in ["x86_64-lto-none", "arm64-lto-none"] {
            let arch = case(c).arch.profile();
            let y = device_yaml(arch, arch.qemu.binary);
            let v: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
            let p = &v["actions"]["boot"]["methods"]["qemu"]["parameters"];
            assert_eq!(p["command"], arch.qemu.binary);
            let opts: Vec<&str> = p["options"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|o| o.as_str())
                .collect();
            assert!(opts.contains(&"-no-reboot"), "{opts:?}");
            assert!(
                opts.contains(&format!("-M {}", arch.qemu.machine).as_str()),
                "{opts:?}"
            );
        }
    }
}
