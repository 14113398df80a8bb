"""The vendor-compatible response shapes, one module per vendor page: `lobstr`, `localleads`,
`clodura` and `catalogue` (`common` holds what they share)."""
