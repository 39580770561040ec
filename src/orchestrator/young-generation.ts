/**
 * Caps V8's young generation at two 4 MiB semi-spaces, as `--max-semi-space-size=4` would. By
 * default V8 doubles it under load up to 16 MiB a semi-space, most of the front's memory beyond
 * node:http's, for nothing: what a request allocates dies within the request. That flag is read
 * only when V8 starts (`setFlagsFromString` is too late for it), but the growth factor is read at
 * every growth: after each collection, growth is switched off at the cap, and on again below it
 * (V8 shrinks the young generation when allocation slows). Kept at its initial 1 MiB instead,
 * the young generation would cost eight times as many collections.
 */
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/** The new space's size (both semi-spaces) at which it stops growing. */
export const YOUNG_GENERATION_CAP_BYTES = 8 * 1024 * 1024;

export function capYoungGeneration(): void {
  let growing = true;
  const check = (): void => {
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    const grow = newSpace === undefined || newSpace.space_size < YOUNG_GENERATION_CAP_BYTES;
    if (grow === growing) return;
    growing = grow;
    setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
  };
  new PerformanceObserver(check).observe({ entryTypes: ["gc"] });
}
