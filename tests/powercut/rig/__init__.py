"""The power-cut rig: snapshots of a live backing filesystem, checked through durfs."""
