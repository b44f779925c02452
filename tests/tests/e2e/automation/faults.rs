//! Registry faults: down, 429 with Retry-After, garbage.
