// Compiles the shared precompiled header (LibTorch) once; every questbench target reuses it.
