"""ssdk.core: what an app becomes and how it is served, split by when the code runs.

ssdk build / ssdk routes -> buildtime/ (app -> plan -> responses -> variants -> tables)
                         -> the formats here (bytes, segments, blob, bundle file)
ssdk serve (each worker) -> runtime/ (engine, dynamic routes, counters)
                         -> the formats here (reads what buildtime/ wrote)

buildtime/ runs once per build (or per revalidation): it imports the user's app, calls
           its functions and writes a bundle; it never loads the C extension, so the
           fuzzers and a machine without a compiler can build.
runtime/   runs while serving: the cffi binding of the C engine and what the C loop
           calls back into; it never imports buildtime/, so a worker carries no build code
           it does not use.
this level holds what both sides speak, one module per format, written and read in the
           same place so the two cannot drift apart: cdefs.py (what the C headers say),
           http.py (header block bytes: the build's templates and a dynamic route's
           answers alike), lower.py (segments and their sums), blob.py (the tables the C
           core reads: laid out by the build, checked and looked up when opened) and
           bundle.py (the file: written by the build, mapped by a worker).
"""
