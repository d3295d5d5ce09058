"""Reports made from the same policy that Pledge enforces.

Records of processing (Art. 30), privacy notices (Art. 13/14) in English and Polish with
versions and change campaigns, the data-map picture, and signed erasure certificates.
"""
