//! Guest: what the harness and the guest's `/init` say to each other.
