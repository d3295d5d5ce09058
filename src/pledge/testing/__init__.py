"""Test kits shipped with Pledge for those who extend it (:mod:`pledge.testing.conformance`:
the connector conformance suite)."""
