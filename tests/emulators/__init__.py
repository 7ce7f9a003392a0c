"""Real HTTP servers on loopback that follow the hosted LMSs' documented APIs."""
