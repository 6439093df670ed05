"""The self-checkout on the box: frames → tray at rest → recognise once → bill → record."""
