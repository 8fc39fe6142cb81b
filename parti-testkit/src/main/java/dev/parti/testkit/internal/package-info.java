/**
 * Entry points of the kit's child processes. Not API: names and arguments may change in any release.
 */
package dev.parti.testkit.internal;
