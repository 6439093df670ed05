"""HTTP API: routes → dependencies → storage."""
