runtime copy of runtime/typescript/dist/message.js (472 lines); the lines generation adds or changes:

