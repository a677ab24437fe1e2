//! Stages: what happens to one case, in order: the kernel [`source`], its
//! [`config`], the [`build`], the initramfs [`image`], the QEMU [`boot`].
//! Each stage takes a typed request and gives a typed result; failures are
//! typed too, split into the kernel's fault (fail) and the harness's or
//! machine's (incomplete).

pub mod accel;
pub mod boot;
pub mod build;
pub mod config;
pub mod image;
pub mod lava;
pub mod source;
