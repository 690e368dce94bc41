"""One thin module per Lambda role: parse the event, call the domain, map the answer."""
