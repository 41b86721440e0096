runtime copy of runtime/typescript/dist/message.d.ts (132 lines); the lines generation adds or changes:

