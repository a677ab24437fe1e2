//! What a kernel is, as the cases ask for it and the results record it:
//! its architecture, LTO mode and whether kCFI is on. Serialised as the
//! plain strings results.json, metadata.json and the history have always
//! carried (`x86_64`/`arm64`, `none`/`thin`/`full`, `on`/`off`).

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// An architecture the harness can build and boot. Its facts (QEMU,
/// make, busybox, kCFI markers) are data in [`crate::arch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Link Time Optimization mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lto {
    None,
    Thin,
    Full,
}

impl Lto {
    pub fn name(self) -> &'static str {
        match self {
            Lto::None => "none",
            Lto::Thin => "thin",
            Lto::Full => "full",
        }
    }
}

impl fmt::Display for Lto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `on` / `off` (YAML booleans are accepted too); kCFI is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    On,
    Off,
}

/// Whether a kernel has kCFI.
pub type Cfi = Switch;

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
    pub fn name(self) -> &'static str {
        if self.is_on() {
            "on"
        } else {
            "off"
        }
    }
    pub fn from_bool(on: bool) -> Switch {
        if on {
            Switch::On
        } else {
            Switch::Off
        }
    }
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Switch;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`on` or `off`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Switch, E> {
                Ok(Switch::from_bool(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Switch, E> {
                match v {
                    "on" => Ok(Switch::On),
                    "off" => Ok(Switch::Off),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_strings_results_always_had() {
        for (v, s) in [
            (serde_json::to_value(Arch::X86_64).unwrap(), "x86_64"),
            (serde_json::to_value(Arch::Arm64).unwrap(), "arm64"),
            (serde_json::to_value(Lto::Thin).unwrap(), "thin"),
            (serde_json::to_value(Switch::On).unwrap(), "on"),
            (serde_json::to_value(Switch::Off).unwrap(), "off"),
        ] {
            assert_eq!(v, s);
        }
        for a in Arch::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
        }
        let s: Switch = serde_json::from_str("true").unwrap();
        assert_eq!(s, Switch::On);
        assert!(serde_json::from_str::<Switch>("\"maybe\"").is_err());
    }
}
