"""Platform plumbing, one module per platform: how to reach its API and how its failures sort into
"try again later" (``DeliveryError``) and "never" (``ChatUnavailable``). The notifiers, the input
fetcher and the bots build on these."""
