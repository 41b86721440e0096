runtime copy of runtime/python/sender.py (124 lines); the lines generation adds or changes:

