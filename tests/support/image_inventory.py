"""What an image lists about itself, run by its own Python: distributions, tools, caches."""

INVENTORY = """
import glob, importlib.metadata as m, json, re, shutil
print(json.dumps({
    "distributions": sorted({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in m.distributions()}),
    "tools": sorted(t for t in ("gcc", "cc", "g++", "c++", "make", "git", "uv") if shutil.which(t)),
    "caches": sorted(glob.glob("/root/.cache/*") + glob.glob("/home/*/.cache/*") + glob.glob("/var/cache/uv/*") + glob.glob("/opt/uv/*")),
    "compilers": sorted(glob.glob("/usr/bin/*-linux-gnu-gcc*") + glob.glob("/usr/lib/gcc/*")),
}))
"""
