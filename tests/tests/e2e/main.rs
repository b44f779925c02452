//! End-to-end tests against real servers: one binary, a module per area.

mod helmops;
