import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asksDoseChange, assessReading, detectEmergency, toCanonicalForSafety } from './safety.js';

test('emergency language is recognised, negations and general questions are not', () => {
  for (const s of [
    'I have chest pain',
    "I can't breathe",
    "I've fallen and I can't get up",
    // What a recognizer makes of it when it loses the first word.
    "fallen and I can't get up",
    'fell and I cannot get up',
    'my face is drooping',
    'I want to end my life',
    "I'm bleeding a lot",
    'call an ambulance',
    'help me',
    'help me please',
    'help help help',
    'I need an ambulance',
  ]) {
    assert.ok(detectEmergency(s), s);
  }
  for (const s of [
    'no chest pain today',
    "I don't have chest pain",
    'what are the signs of a stroke',
    'I am not having trouble breathing',
    'can you help me with my pills',
    'who is my emergency contact',
    'I had a stroke years ago',
  ]) {
    assert.equal(detectEmergency(s), undefined, s);
  }
  assert.equal(detectEmergency('no chest pain but I cannot breathe')?.reason, 'breathing difficulty');
});

test('a leading exclamation "no" / "oh no" before the speaker\'s own statement is not a negation', () => {
  for (const [s, reason] of [
    ['no i have fallen', 'fall'],
    ["No... I've fallen", 'fall'],
    ["oh no, I've fallen and I can't get up", 'fall'],
    ["no I can't breathe", 'breathing difficulty'],
    ['oh no, I have chest pain', 'chest pain'],
    ['no no help me', 'call for help'],
  ] as const) {
    assert.equal(detectEmergency(s)?.reason, reason, s);
  }
  for (const s of [
    "no I haven't fallen",
    'No, I have not fallen',
    'I have no chest pain',
    'no chest pain today',
    'no my chest pain is gone',
    "no I'm not choking",
    "no I haven't had a fall",
    'no help',
    'no thanks, no help needed',
  ]) {
    assert.equal(detectEmergency(s), undefined, s);
  }
});

test('dose-change questions are caught; reminder changes are not', () => {
  assert.ok(asksDoseChange('should I stop taking my metformin'));
  assert.ok(asksDoseChange('can I take two paracetamol'));
  assert.ok(asksDoseChange('increase my dose'));
  assert.equal(asksDoseChange('can you change my ramipril reminder to 9'), false);
  assert.equal(asksDoseChange('I took my metformin'), false);
});

test('far out-of-range readings get advice, normal ones none', () => {
  assert.equal(assessReading('blood_pressure', { systolic: 185, diastolic: 95 })?.level, 'urgent');
  assert.equal(assessReading('blood_pressure', { systolic: 230, diastolic: 110 })?.level, 'emergency');
  assert.equal(assessReading('blood_pressure', { systolic: 135, diastolic: 85 }), undefined);
  assert.equal(
    assessReading('blood_glucose', toCanonicalForSafety('blood_glucose', 2.8, 'mmol/L'))?.level,
    'urgent',
  );
  assert.equal(assessReading('blood_glucose', 110), undefined);
  assert.equal(assessReading('oxygen_saturation', 83)?.level, 'emergency');
  assert.equal(
    assessReading('temperature', toCanonicalForSafety('temperature', 103.5, '°F'))?.level,
    'urgent',
  );
});
