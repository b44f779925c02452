//! End-to-end tests over real servers, one module per area.

mod registry;
