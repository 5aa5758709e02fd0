import { describe, expect, it } from 'vitest';
import { LossAccount } from '../../src/kernel/loss.js';

function account(): { loss: LossAccount; reports: number[] } {
  const reports: number[] = [];
  return { loss: new LossAccount((count) => reports.push(count)), reports };
}

describe('LossAccount', () => {
  it('counts drops as soon as they are read, before any gap shows', () => {
    const { loss, reports } = account();

    loss.dropped(500);

    expect([loss.lost, reports]).toEqual([500, [500]]);
  });

  it('does not count twice what the gaps show later of the same drops', () => {
    const { loss, reports } = account();
    loss.dropped(500);

    loss.gap(300);
    loss.gap(200);

    expect([loss.lost, reports]).toEqual([500, [500]]);
  });

  it('counts gaps that show more than the drops (messages the kernel numbered but never sent)', () => {
    const { loss, reports } = account();
    loss.dropped(100);

    loss.gap(60);
    loss.gap(45);

    expect([loss.lost, reports]).toEqual([105, [100, 5]]);
  });

  it('counts drops beyond the gaps (a CPU that never sent again, or had no first message)', () => {
    const { loss, reports } = account();
    loss.gap(40);

    loss.dropped(30);
    loss.dropped(70);

    expect([loss.lost, reports]).toEqual([70, [40, 30]]);
  });

  it('never goes back, whatever order the counts come in', () => {
    const { loss, reports } = account();
    loss.dropped(70);
    loss.dropped(20); // an older reading

    expect([loss.lost, reports]).toEqual([70, [70]]);
  });
});
