//! End-to-end tests over real servers and real protocols, one module per area.

mod gitsync;
