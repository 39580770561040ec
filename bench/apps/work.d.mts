// Types of work.mjs, for the TypeScript app that imports it.
export declare function burn(n: number): number;
export declare const CPU_ITERS: number;
export declare const SLOW_ITERS: number;
