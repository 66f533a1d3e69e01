"""The REST/JSON gateway: HTTP routes generated from the public protos' `google.api.http` rules."""
