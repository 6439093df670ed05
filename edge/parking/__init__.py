"""Parking studs on the box: stud health, bay occupancy, no-parking zones."""
