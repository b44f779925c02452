//! The seed's walkthrough end to end (filled in below).
