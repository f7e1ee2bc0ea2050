"""PLACEHOLDER: being written; replaced before this lands."""

def hist_bhattacharyya(*args, **kwargs):
    raise NotImplementedError

def hist_chisq(*args, **kwargs):
    raise NotImplementedError

def hist_correlation(*args, **kwargs):
    raise NotImplementedError

def hist_emd(*args, **kwargs):
    raise NotImplementedError

def hist_intersection(*args, **kwargs):
    raise NotImplementedError

def histogram(*args, **kwargs):
    raise NotImplementedError

