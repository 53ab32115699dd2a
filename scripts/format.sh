#!/usr/bin/env bash
# Formats the Swift sources with the toolchain's swift-format: 4 spaces, lines within 120 characters
# (STYLE.md). Long string literals that must match Redis's texts word for word stay as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
swift format --configuration scripts/swift-format.json -i -r Sources Tests Package.swift
