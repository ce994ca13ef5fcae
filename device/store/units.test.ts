import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkRange } from './ranges.js';
import {
  canonicalUnit,
  fromCanonical,
  measurementTypes,
  normalizeUnit,
  toCanonical,
  unitsFor,
} from './units.js';

describe('unit conversion both ways', () => {
  const cases: [string, string, number, number][] = [
    ['blood_glucose', 'mmol/L', 5.5, 99.1],
    ['weight', 'lb', 154.3236, 70],
    ['temperature', '°F', 98.6, 37],
    ['sleep', 'min', 450, 7.5],
  ];
  for (const [type, unit, input, canonical] of cases) {
    test(`${type}: ${input} ${unit} ↔ ${canonical} ${canonicalUnit[type as 'weight']}`, () => {
      const c = toCanonical(type as 'weight', unit, input);
      assert.ok(Math.abs(c - canonical) < 0.05, `${c} ≈ ${canonical}`);
      assert.ok(Math.abs(fromCanonical(type as 'weight', unit, c) - input) < 1e-9);
    });
  }
  test('every type has its canonical unit and converts identically in it', () => {
    for (const type of measurementTypes) {
      assert.equal(normalizeUnit(type, undefined), canonicalUnit[type]);
      for (const unit of unitsFor(type)) {
        for (const v of [0, 1, 37.5, 120])
          assert.ok(Math.abs(fromCanonical(type, unit, toCanonical(type, unit, v)) - v) < 1e-9);
      }
    }
  });
  test('spellings are normalized; a unit of another type is refused', () => {
    assert.equal(normalizeUnit('blood_glucose', 'mmol/l'), 'mmol/L');
    assert.equal(normalizeUnit('weight', 'lbs'), 'lb');
    assert.equal(normalizeUnit('temperature', 'F'), '°F');
    assert.equal(normalizeUnit('weight', 'mg/dL'), undefined);
  });
});

describe('plausible ranges', () => {
  test('messages name field, rule, value and unit', () => {
    assert.deepEqual(checkRange('systolic', 900, 'mmHg', 900), {
      field: 'systolic',
      rule: 'range',
      message: 'systolic must be between 50 and 260 mmHg, got 900',
    });
    assert.equal(
      checkRange('weight', toCanonical('weight', 'lb', 1000), 'lb', 1000)?.message,
      'weight must be between 4.4 and 881.8 lb, got 1000',
    );
    assert.equal(
      checkRange('temperature', toCanonical('temperature', '°F', 120), '°F', 120)?.message,
      'temperature must be between 86 and 113 °F, got 120',
    );
    assert.equal(checkRange('steps', 10.5, 'count', 10.5)?.rule, 'integer');
  });
  test('bounds are inclusive, also after conversion', () => {
    assert.equal(checkRange('temperature', toCanonical('temperature', '°F', 113), '°F', 113), undefined);
    assert.equal(checkRange('diastolic', 30, 'mmHg', 30), undefined);
    assert.equal(checkRange('oxygen_saturation', 100.5, '%', 100.5)?.rule, 'range');
  });
});
