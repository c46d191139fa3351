"""Remote training: a bundle goes to a machine SkyPilot rents, the same trainer runs there through
`mh worker train`, and the run comes back, proven by a sha256 manifest, before it is registered."""
