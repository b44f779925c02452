// The Flux v1 judge of the migration tests: what Flux v1.25's sync would
// send to `kubectl apply`, computed with the YAML library Flux used.
module fluxd-rs/tests/fluxv1

go 1.26.0

require gopkg.in/yaml.v2 v2.4.0
