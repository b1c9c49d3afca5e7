"""imagewatch: compliance checks over the container images Huawei Cloud HSS knows about."""

__version__ = "0.1.0"
