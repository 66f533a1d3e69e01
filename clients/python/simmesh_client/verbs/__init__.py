"""`simctl` verbs, one module each; `simmesh_client.cli.VERB_MODULES` lists them."""
