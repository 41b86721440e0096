runtime copy of runtime/typescript/dist/sender.js (372 lines); the lines generation adds or changes:

