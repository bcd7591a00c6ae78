"""Quality studies: measurements that train models or fetch photos (minutes to tens of
minutes), whose tables the README and docs quote."""
