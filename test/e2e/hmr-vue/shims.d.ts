// tsc reads no .vue file: their types come from here (Vite compiles them with @vitejs/plugin-vue).
declare module '*.vue' {
  const component: import('vue').Component
  export default component
}
