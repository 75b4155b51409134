-- A camp's changes forwarded on bundles (docs/relay.md, "Bundles upstream"). For a relay, `bundled_through` is the
-- position of its camp's log through which every change the camp forwarded has been answered here, by bundle or
-- over the network; it is sent back to the relay (`bundled_through` of a response), so that when the camp's link
-- returns it sends none of them again. NULL: nothing came on a bundle.
ALTER TABLE devices ADD COLUMN bundled_through INTEGER;
-- A relay is told the refusals of the devices it carries: found through their carrier.
CREATE INDEX devices_by_carrier ON devices (carrier) WHERE carrier IS NOT NULL;
