/** Regulator notification rules: rule-file schema and loader, classification, deadline engine. */
export * from './calendar.js';
export * from './classify.js';
export * from './deadlines.js';
export * from './expression.js';
export * from './facts.js';
export * from './load.js';
export * from './schema.js';
export * from './draft.js';
export * from './notification.js';
export * from './profile.js';
