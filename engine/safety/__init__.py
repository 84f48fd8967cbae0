"""Content safety: an on-device nudity detector (NudeNet 320n) and the policy that refuses explicit
images before a swap and before delivery."""
