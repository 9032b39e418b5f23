"""Act: change the world (Azure, pfSense/swanctl, tunnels) and return records of what was done."""
