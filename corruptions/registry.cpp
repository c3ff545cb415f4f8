// corruption registry: filled in by the corruptions work
