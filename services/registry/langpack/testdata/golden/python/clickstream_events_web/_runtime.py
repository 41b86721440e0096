runtime copy of runtime/python/_runtime.py (273 lines); the lines generation adds or changes:

