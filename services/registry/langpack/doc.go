// Package langpack generates langpacks: typed client packages for the events
// one environment may send, in Go, Python, TypeScript, PHP, Java, Swift and
// C#. Generation is
// a pure function of its Input, so equal input gives equal bytes.
//
// Java, Swift and C# are the mobile and partner languages. Java (usable
// from Kotlin and Android) and Swift send protobuf binary over the Connect
// protocol; C#, with no protobuf runtime available offline, sends protobuf
// JSON over it. The Swift output is checked by golden files only.
//
// It is part of the registry service and must not import another service or
// platform.
package langpack
