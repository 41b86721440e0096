runtime copy of runtime/typescript/dist/sender.d.ts (153 lines); the lines generation adds or changes:

